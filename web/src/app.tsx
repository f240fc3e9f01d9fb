import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { setUnauthorizedListener } from './api/http.js'
import {
  listProjects,
  retireToken,
  switchProject,
  type ProjectSummary,
  type Session,
} from './api/identity.js'
import { ImageApi } from './api/images.js'
import { CliDialog } from './components/cli-dialog.js'
import { ErrorMessage } from './components/messages.js'
import { HealthPage } from './pages/health.js'
import { ImageDetailPage } from './pages/image-detail.js'
import { ImageListPage } from './pages/image-list.js'
import { LoginPage } from './pages/login.js'
import { UploadPage } from './pages/upload.js'
import { hrefOf, useRoute, type Route } from './router.js'

/** Renders the login page until a session exists, then the pages behind the top bar. */
export function App() {
  const [session, setSession] = useState<Session | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const [retiredToken, setRetiredToken] = useState<string | null>(null)

  // Effects run after the render that unmounted the pages of the old token, so the requests
  // their clean-up starts are running by now, and retireToken waits for them.
  useEffect(() => {
    if (retiredToken !== null) retireToken(retiredToken).catch(() => undefined)
  }, [retiredToken])

  useEffect(() => {
    if (session === null) return undefined
    const expire = (message: string) => {
      setSession(null)
      setNotice(message)
    }
    // A 401 for an earlier project's token, which a switch revokes, leaves this session alone.
    setUnauthorizedListener((token) => {
      if (token === session.token) expire('Your session has ended. Log in again.')
    })
    // setTimeout fires at once for delays past 2^31 - 1 ms, so long token lifetimes are capped.
    const untilExpiry = Math.min(session.expiresAt.getTime() - Date.now(), 2 ** 31 - 1)
    const timer = setTimeout(() => expire('Your session has expired. Log in again.'), untilExpiry)
    return () => {
      clearTimeout(timer)
      setUnauthorizedListener(null)
    }
  }, [session])

  if (session === null) {
    return (
      <LoginPage
        notice={notice}
        onLogin={(next) => {
          setNotice(null)
          setSession(next)
        }}
      />
    )
  }
  return (
    <Shell
      session={session}
      onSessionChange={(next) => {
        setRetiredToken(session.token)
        setSession(next)
      }}
      onLogOut={() => {
        setRetiredToken(session.token)
        setSession(null)
        setNotice('You have logged out.')
      }}
    />
  )
}

interface ShellProps {
  session: Session
  onSessionChange(session: Session): void
  onLogOut(): void
}

function Shell({ session, onSessionChange, onLogOut }: ShellProps) {
  const route = useRoute()
  const api = useMemo(() => new ImageApi(session.token), [session.token])
  const [cliOpen, setCliOpen] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const main = useRef<HTMLElement>(null)

  return (
    <div class="shell">
      <button type="button" class="skip-link" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="top-bar">
        <a class="brand" href={hrefOf({ page: 'list', tab: 'images' })}>
          Image Library
        </a>
        <nav aria-label="Main">
          <ul>
            <NavLink route={{ page: 'list', tab: 'images' }} current={route} label="Images" />
            {session.canWrite && (
              <NavLink route={{ page: 'upload' }} current={route} label="Upload" />
            )}
            {session.isAdmin && (
              <NavLink route={{ page: 'health' }} current={route} label="Service health" />
            )}
          </ul>
        </nav>
        <div class="account">
          <ProjectSwitcher
            session={session}
            onSwitch={(next) => {
              setError(null)
              onSessionChange(next)
            }}
            onError={setError}
          />
          <span class="user" title={`User ID ${session.user.id}`}>
            {session.user.name}
            {session.isAdmin && <span class="badge">admin</span>}
          </span>
          <button type="button" onClick={() => setCliOpen(true)}>
            Import with CLI
          </button>
          <button type="button" onClick={onLogOut}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1} key={session.token}>
        <ErrorMessage message={error} />
        <Page route={route} session={session} api={api} />
      </main>
      <CliDialog open={cliOpen} session={session} onClose={() => setCliOpen(false)} />
    </div>
  )
}

function NavLink({ route, current, label }: { route: Route; current: Route; label: string }) {
  const active = route.page === current.page || (route.page === 'list' && current.page === 'image')
  return (
    <li>
      <a href={hrefOf(route)} aria-current={active ? 'page' : undefined}>
        {label}
      </a>
    </li>
  )
}

function Page({ route, session, api }: { route: Route; session: Session; api: ImageApi }) {
  switch (route.page) {
    case 'list':
      return <ImageListPage key={route.tab} tab={route.tab} session={session} api={api} />
    case 'image':
      return <ImageDetailPage key={route.id} id={route.id} session={session} api={api} />
    case 'upload':
      return session.canWrite ? (
        <UploadPage session={session} api={api} />
      ) : (
        <p>Uploading needs the member role on this project; your roles only allow reading.</p>
      )
    case 'health':
      return session.isAdmin ? (
        <HealthPage api={api} />
      ) : (
        <p>Service health is for administrators only.</p>
      )
  }
}

interface ProjectSwitcherProps {
  session: Session
  onSwitch(session: Session): void
  onError(message: string): void
}

function ProjectSwitcher({ session, onSwitch, onError }: ProjectSwitcherProps) {
  const [projects, setProjects] = useState<ProjectSummary[]>([])
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    listProjects(session)
      .then(setProjects)
      .catch(() => setProjects([]))
  }, [session.token])

  const choices = projects.some((project) => project.id === session.project.id)
    ? projects
    : [{ id: session.project.id, name: session.project.name }, ...projects]
  const change = (projectId: string) => {
    if (projectId === session.project.id) return
    setBusy(true)
    switchProject(session, projectId)
      .then(onSwitch)
      .catch((error: Error) => onError(`Switching project failed: ${error.message}`))
      .finally(() => setBusy(false))
  }

  return (
    <span class="project-switcher">
      <label for="project-select">Project</label>
      <select
        id="project-select"
        value={session.project.id}
        disabled={busy}
        onChange={(event) => change(event.currentTarget.value)}
      >
        {choices.map((project) => (
          <option key={project.id} value={project.id}>
            {project.name}
          </option>
        ))}
      </select>
    </span>
  )
}
