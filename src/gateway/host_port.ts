/** Parses the `host:port` form the schema accepts for listen addresses (IPv6 hosts in brackets). */

/** A listen address split into its parts. */
export interface HostPort {
  hostname: string;
  port: number;
}

/** Splits `host:port` (`[::1]:9443` too) at the last colon; the schema has already checked the shape. */
export function parseHostPort(value: string): HostPort {
  const separator = value.lastIndexOf(":");
  return {
    hostname: value.slice(0, separator).replace(/^\[|\]$/g, ""),
    port: Number(value.slice(separator + 1)),
  };
}
