export { RedisStore, type RedisStoreOptions, type StoreLogger } from './redis-store.js'
