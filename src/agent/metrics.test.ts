import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetricsRegistry } from './metrics.js'

describe('MetricsRegistry', () => {
  it('renders counters and gauges in the Prometheus text format', () => {
    const metrics = new MetricsRegistry()
    metrics.declare('agent_hits_total', 'counter', 'Hits.')
    metrics.declare('agent_used_bytes', 'gauge', 'Used bytes.')
    metrics.add('agent_hits_total')
    metrics.add('agent_hits_total', 2)
    metrics.set('agent_used_bytes', 42, { store: 'a"b' })

    assert.equal(
      metrics.render(),
      [
        '# HELP agent_hits_total Hits.',
        '# TYPE agent_hits_total counter',
        'agent_hits_total 3',
        '# HELP agent_used_bytes Used bytes.',
        '# TYPE agent_used_bytes gauge',
        'agent_used_bytes{store="a\\"b"} 42',
        '',
      ].join('\n'),
    )
  })

  it('rejects a metric that was not declared', () => {
    const metrics = new MetricsRegistry()
    assert.throws(() => metrics.add('undeclared_total'), /was not declared/)
  })
})
