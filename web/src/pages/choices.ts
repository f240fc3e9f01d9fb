/** The values the Image API accepts, for the selects of the forms. */
export const visibilities = ['public', 'private', 'shared', 'community'] as const

export const imageStatuses = [
  'queued',
  'saving',
  'uploading',
  'importing',
  'active',
  'deactivated',
  'killed',
  'pending_delete',
] as const

export const diskFormats = [
  'raw',
  'qcow2',
  'iso',
  'vmdk',
  'vhd',
  'vhdx',
  'vdi',
  'ploop',
  'ami',
  'ari',
  'aki',
] as const

export const containerFormats = [
  'bare',
  'ovf',
  'ova',
  'docker',
  'compressed',
  'ami',
  'ari',
  'aki',
] as const
