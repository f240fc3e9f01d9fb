/** The import methods of Glance's interoperable import that this service implements. */
export const importMethodNames = ['glance-direct', 'web-download', 'copy-image'] as const
export type ImportMethod = (typeof importMethodNames)[number]
