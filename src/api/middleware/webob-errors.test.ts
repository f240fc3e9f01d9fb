import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { negotiateErrorType, renderWebobError } from './webob-errors.js'

describe('Glance error bodies', () => {
  it('picks plain text without Accept or for */*, as WebOb does', () => {
    assert.equal(negotiateErrorType(undefined), 'text/plain')
    assert.equal(negotiateErrorType('*/*'), 'text/plain')
  })

  it('picks JSON or HTML when the client asks for it', () => {
    assert.equal(negotiateErrorType('application/json'), 'application/json')
    assert.equal(negotiateErrorType('text/html,application/xhtml+xml'), 'text/html')
    assert.equal(negotiateErrorType('text/plain;q=0.1, application/json'), 'application/json')
  })

  it('renders JSON with message, status line and title', () => {
    const rendered = renderWebobError(
      404,
      'Not Found',
      'No image found with ID x',
      'application/json',
    )
    const body = JSON.parse(rendered.body)
    assert.equal(body.code, '404 Not Found')
    assert.equal(body.title, 'Not Found')
    assert.match(body.message, /No image found with ID x/)
    assert.equal(rendered.contentType, 'application/json')
  })

  it('escapes the detail in HTML', () => {
    const rendered = renderWebobError(400, 'Bad Request', '<script>', 'text/html')
    assert.doesNotMatch(rendered.body, /<script>/)
    assert.match(rendered.body, /&lt;script&gt;/)
  })

  it('starts plain text with the status line', () => {
    const rendered = renderWebobError(409, 'Conflict', 'busy', undefined)
    assert.match(rendered.body, /^409 Conflict\n\n/)
    assert.match(rendered.body, /busy/)
  })
})
