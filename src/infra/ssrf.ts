/**
 * Server-side request forgery guard for URLs customers choose (webhook endpoints). A target is
 * allowed only when every address its host resolves to is globally routable unicast: never
 * loopback, RFC 1918 private, link-local (169.254.0.0/16, fe80::/10, where cloud metadata
 * services live: 169.254.169.254, fd00:ec2::254 is unique-local), carrier-grade NAT
 * (100.64.0.0/10, Alibaba's metadata at 100.100.100.200), multicast, unspecified, reserved or
 * documentation ranges, nor IPv6 forms that embed an IPv4 address (IPv4-mapped, NAT64, 6to4,
 * Teredo), which could smuggle a private one. `allowPrivate` (WEBHOOK_ALLOW_PRIVATE) turns the
 * check off for deployments whose receivers live on their own network.
 *
 * Checking a name and then letting the HTTP client resolve it again is not enough: DNS can
 * answer differently the second time (rebinding). `guardedLookup` is therefore the resolver the
 * connection itself uses, so the socket connects only to an address that was just checked.
 * ipaddr.js is imported only here and in ip-ranges.ts (allow lists).
 */
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress, LookupOneOptions } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/** Resolves a host name to its IP addresses (tests inject a fixed table). */
export type HostResolver = (hostname: string) => Promise<string[]>;

/** Longest the system resolver may take (getaddrinfo has no deadline of its own). */
const RESOLVE_TIMEOUT_MS = 5000;

/** The operating system's resolver (getaddrinfo: /etc/hosts, then DNS), every address. */
export const systemResolver: HostResolver = async (hostname) => {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`resolving ${hostname} took over ${RESOLVE_TIMEOUT_MS} ms`)), RESOLVE_TIMEOUT_MS);
  });
  try {
    return (await Promise.race([dnsLookup(hostname, { all: true, verbatim: true }), deadline])).map((entry) => entry.address);
  } finally {
    clearTimeout(timer);
  }
};

export interface AddressPolicy {
  /** WEBHOOK_ALLOW_PRIVATE: skip the range check (every address is allowed). */
  allowPrivate: boolean;
  resolve: HostResolver;
}

/** A target refused because an address it resolves to is not public. */
export class BlockedAddressError extends Error {
  override name = "BlockedAddressError";
  readonly code = "ERR_SSRF_BLOCKED";
  constructor(readonly host: string, readonly address: string, readonly range: string) {
    super(host === address
      ? `${address} is a ${describeRange(range)} address; webhooks may only target public addresses (WEBHOOK_ALLOW_PRIVATE=true allows it)`
      : `${host} resolves to ${address}, a ${describeRange(range)} address; webhooks may only target public addresses (WEBHOOK_ALLOW_PRIVATE=true allows it)`);
  }
}

/** A target whose host name does not resolve. */
export class UnresolvableHostError extends Error {
  override name = "UnresolvableHostError";
  readonly code = "ERR_HOST_UNRESOLVABLE";
  constructor(readonly host: string, cause?: unknown) {
    super(`${host} does not resolve to any address`, { cause });
  }
}

const RANGE_NAMES: Record<string, string> = {
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link-local (cloud metadata)",
  loopback: "loopback",
  carrierGradeNat: "carrier-grade NAT",
  private: "private",
  uniqueLocal: "unique-local (private)",
  reserved: "reserved",
  ipv4Mapped: "IPv4-mapped",
  rfc6145: "IPv4-translated",
  rfc6052: "NAT64",
  "6to4": "6to4",
  teredo: "Teredo",
};

function describeRange(range: string): string {
  return RANGE_NAMES[range] ?? `non-public (${range})`;
}

/** `[::1]` → `::1`: URL host names keep the brackets of IPv6 literals. */
function bare(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * The ipaddr.js range of an IP address (`unicast` for a public one). An IPv4-mapped IPv6
 * address is judged as the IPv4 address it carries.
 */
export function addressRange(address: string): string {
  // process() turns ::ffff:a.b.c.d into a.b.c.d.
  return ipaddr.process(bare(address)).range();
}

/** True for globally routable unicast addresses only. */
export function isPublicAddress(address: string): boolean {
  try {
    return addressRange(address) === "unicast";
  } catch {
    return false;
  }
}

export interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Every address `host` (a name or an IP literal) may be connected to under `policy`. Throws
 * BlockedAddressError when any address it resolves to is not public (one bad answer refuses
 * the host: a name that mixes public and private answers is a rebinding setup, not a
 * receiver), UnresolvableHostError when it resolves to nothing.
 */
export async function resolveCheckedAddresses(host: string, policy: AddressPolicy): Promise<CheckedAddress[]> {
  const name = bare(host);
  let addresses: string[];
  if (isIP(name)) {
    addresses = [name];
  } else {
    try {
      addresses = await policy.resolve(name);
    } catch (err) {
      throw new UnresolvableHostError(name, err);
    }
  }
  if (addresses.length === 0) throw new UnresolvableHostError(name);
  return addresses.map((address) => {
    const family = isIP(address);
    if (family !== 4 && family !== 6) throw new UnresolvableHostError(name, new Error(`resolver answered ${JSON.stringify(address)}`));
    if (!policy.allowPrivate) {
      const range = addressRange(address);
      if (range !== "unicast") throw new BlockedAddressError(name, address, range);
    }
    return { address, family };
  });
}

/** Throws BlockedAddressError when `host` is an IP literal outside the policy (names pass). */
export function assertAllowedLiteral(host: string, policy: Pick<AddressPolicy, "allowPrivate">): void {
  const name = bare(host);
  if (policy.allowPrivate || !isIP(name)) return;
  const range = addressRange(name);
  if (range !== "unicast") throw new BlockedAddressError(name, name, range);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect / tls.connect (undici's `connect.lookup`) that resolves with
 * `policy.resolve` and answers only addresses that passed the check, so the connection goes
 * to exactly what was checked. Supports both forms Node calls it with (`all: true` for
 * happy-eyeballs, a single address otherwise).
 */
export function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: LookupOneOptions & { all?: boolean }, callback: LookupCallback): void => {
    resolveCheckedAddresses(hostname, policy).then(
      (checked) => {
        const wanted = options.family === 4 || options.family === 6 ? checked.filter((a) => a.family === options.family) : checked;
        if (wanted.length === 0) {
          callback(Object.assign(new UnresolvableHostError(hostname), { code: "ENOTFOUND" }) as NodeJS.ErrnoException, options.all ? [] : "", 0);
        } else if (options.all) {
          callback(null, wanted.map(({ address, family }) => ({ address, family })));
        } else {
          callback(null, wanted[0]!.address, wanted[0]!.family);
        }
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, options.all ? [] : "", 0),
    );
  };
}

/** Finds a BlockedAddressError / UnresolvableHostError in an error's cause chain. */
export function findGuardError(err: unknown): BlockedAddressError | UnresolvableHostError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BlockedAddressError || e instanceof UnresolvableHostError) return e;
  }
  return undefined;
}
