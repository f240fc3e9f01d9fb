/** pcdctl's version, which it prints for --version and sends in its User-Agent header. */
export { serviceVersion as pcdctlVersion } from '../version.js'
