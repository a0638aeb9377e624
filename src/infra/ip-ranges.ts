/**
 * IP allow lists: `203.0.113.0/24,198.51.100.7,2001:db8::/32` (API.md §7 `ipa`, §8 `ipCidrs`).
 * IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, what a dual-stack socket reports for an IPv4
 * client) are compared as the IPv4 address they carry, on both sides of the match.
 */
import ipaddr from "ipaddr.js";

export type IpRange = [ipaddr.IPv4 | ipaddr.IPv6, number];

export class IpRangeError extends Error {
  override name = "IpRangeError";
}

/** One IP or CIDR → a range; a bare address is its own /32 or /128. Throws IpRangeError. */
export function parseIpRange(text: string): IpRange {
  const value = text.trim();
  try {
    if (value.includes("/")) {
      const [address, prefix] = ipaddr.parseCIDR(value);
      if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
        return [(address as ipaddr.IPv6).toIPv4Address(), prefix - 96];
      }
      return [address, prefix];
    }
    if (!ipaddr.isValid(value)) throw new Error("invalid");
    const address = ipaddr.process(value);
    return [address, address.kind() === "ipv4" ? 32 : 128];
  } catch {
    throw new IpRangeError(`"${value}" is not an IPv4/IPv6 address or CIDR`);
  }
}

/** A comma-separated list (or an array of entries) → ranges; empty entries are refused. */
export function parseIpAllowList(list: string | string[]): IpRange[] {
  const entries = Array.isArray(list) ? list : list.split(",");
  return entries.map((entry) => {
    if (!entry.trim()) throw new IpRangeError("the list has an empty entry");
    return parseIpRange(entry);
  });
}

/** Whether `ip` (as the socket or proxy reported it) lies in one of the ranges. */
export function ipInRanges(ip: string, ranges: IpRange[]): boolean {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip.trim());
  } catch {
    return false;
  }
  return ranges.some(([base, prefix]) => base.kind() === address.kind() && address.match(base, prefix));
}
