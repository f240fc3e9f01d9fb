import { useEffect, useRef, useState } from 'preact/hooks'
import type { Session } from '../api/identity.js'
import { buildImageCreateCommand, buildRcFile } from '../lib/rc-file.js'

interface CliDialogProps {
  open: boolean
  session: Session
  onClose(): void
}

/** Returns the identity URL to use without a catalog entry: this host on the default port. */
function fallbackIdentityUrl(): string {
  return `${window.location.protocol}//${window.location.hostname}:5000/v3`
}

/** Returns the RC file and upload command for the session's user and project. */
export function cliTextsOf(session: Session): { rcFile: string; command: string } {
  const rcFile = buildRcFile({
    authUrl: session.identityUrl ?? fallbackIdentityUrl(),
    userDomainName: session.user.domainName,
    username: session.user.name,
    projectDomainName: session.project.domainName,
    projectName: session.project.name,
    projectId: session.project.id,
    regionName: session.regionName,
    endpointInterface: 'public',
  })
  const command = buildImageCreateCommand({
    diskFormat: 'qcow2',
    visibility: session.isAdmin ? 'public' : 'private',
    file: 'disk.qcow2',
    name: 'my-image',
  })
  return { rcFile, command }
}

/** Shows a modal dialog with the `OS_*` variables of the current project and a pcdctl command. */
export function CliDialog({ open, session, onClose }: CliDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [copied, setCopied] = useState<string | null>(null)
  const { rcFile, command } = cliTextsOf(session)

  useEffect(() => {
    const element = dialog.current
    if (element === null) return
    if (open && !element.open) element.showModal()
    if (!open && element.open) element.close()
  }, [open])

  const copy = (text: string, label: string) => {
    navigator.clipboard.writeText(text).then(
      () => setCopied(`${label} copied to the clipboard.`),
      () => setCopied(`Copying failed: select the ${label.toLowerCase()} and press Ctrl+C.`),
    )
  }
  const download = () => {
    const url = URL.createObjectURL(new Blob([rcFile], { type: 'text/x-shellscript' }))
    const link = document.createElement('a')
    link.href = url
    link.download = 'openstack-rc.sh'
    document.body.append(link)
    link.click()
    link.remove()
    setTimeout(() => URL.revokeObjectURL(url), 1000)
  }

  return (
    <dialog
      ref={dialog}
      class="cli-dialog"
      aria-labelledby="cli-heading"
      onClose={() => {
        setCopied(null)
        onClose()
      }}
    >
      <h2 id="cli-heading">Import with the CLI</h2>
      <p>
        Save these variables as <code>openstack-rc.sh</code>, put your password in place of{' '}
        <code>&lt;password&gt;</code>, then run <code>. ./openstack-rc.sh</code>. They work for
        pcdctl and the <code>openstack</code> client.
      </p>
      <label for="cli-rc-file">RC file for project {session.project.name}</label>
      <textarea id="cli-rc-file" readOnly rows={16} value={rcFile} spellcheck={false} />
      <div class="buttons">
        <button type="button" onClick={() => copy(rcFile, 'RC file')}>
          Copy RC file
        </button>
        <button type="button" onClick={download}>
          Download openstack-rc.sh
        </button>
      </div>
      <label for="cli-command">Upload a qcow2 file as an image</label>
      <textarea id="cli-command" readOnly rows={3} value={command} spellcheck={false} />
      <div class="buttons">
        <button type="button" onClick={() => copy(command, 'Command')}>
          Copy command
        </button>
      </div>
      <p class="hint">
        <code>--insecure</code> accepts the service's self-signed certificate; with{' '}
        <code>OS_CACERT</code> set to its CA file, leave it out.
      </p>
      <p role="status">{copied}</p>
      <form method="dialog">
        <button type="submit" class="primary">
          Close
        </button>
      </form>
    </dialog>
  )
}
