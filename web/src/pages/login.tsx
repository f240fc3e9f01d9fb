import { useState } from 'preact/hooks'
import { logIn, type Session } from '../api/identity.js'
import { ErrorMessage, Notice } from '../components/messages.js'

interface LoginPageProps {
  notice: string | null
  onLogin(session: Session): void
}

export function LoginPage({ notice, onLogin }: LoginPageProps) {
  const [domain, setDomain] = useState('Default')
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [project, setProject] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setError(null)
    logIn({ domain: domain.trim(), username: username.trim(), password, project: project.trim() })
      .then(onLogin)
      .catch((failure: Error) => {
        setError(`Login failed: ${failure.message}`)
        setBusy(false)
      })
  }

  return (
    <main class="login" id="main">
      <h1>Image Library</h1>
      <form class="card form" onSubmit={submit} aria-labelledby="login-heading">
        <h2 id="login-heading">Log in</h2>
        <Notice message={notice} />
        <ErrorMessage message={error} />
        <label for="login-domain">Domain</label>
        <input
          id="login-domain"
          name="domain"
          required
          autocomplete="off"
          value={domain}
          onInput={(event) => setDomain(event.currentTarget.value)}
        />
        <label for="login-username">User name</label>
        <input
          id="login-username"
          name="username"
          required
          autocomplete="username"
          value={username}
          onInput={(event) => setUsername(event.currentTarget.value)}
        />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          required
          autocomplete="current-password"
          value={password}
          onInput={(event) => setPassword(event.currentTarget.value)}
        />
        <label for="login-project">Project</label>
        <input
          id="login-project"
          name="project"
          autocomplete="off"
          aria-describedby="login-project-hint"
          value={project}
          onInput={(event) => setProject(event.currentTarget.value)}
        />
        <p id="login-project-hint" class="hint">
          A project name in the domain above. Leave it empty for your default project.
        </p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  )
}
