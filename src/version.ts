/** The service's version, as the host registry and `/v2/info/hosts` show it. */
export const serviceVersion = '0.1.0'
