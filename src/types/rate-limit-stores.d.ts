// @fastify/rate-limit ships its stores as untyped CommonJS; these are the constructors it exports.
declare module "@fastify/rate-limit/store/LocalStore.js" {
  const LocalStore: new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => unknown;
  export default LocalStore;
}
declare module "@fastify/rate-limit/store/RedisStore.js" {
  import type { Redis } from "ioredis";
  const RedisStore: new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => unknown;
  export default RedisStore;
}
