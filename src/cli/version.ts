/** pcdctl's version, which it prints for --version and sends in its User-Agent header. */
export const pcdctlVersion = '0.1.0'
