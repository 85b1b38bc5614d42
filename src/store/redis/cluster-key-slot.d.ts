// Types of cluster-key-slot (the CRC16 slot function ioredis itself uses; the package ships none).
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0-16383) of `key`, honouring its first `{…}` hash tag. */
  export default function calculateSlot (key: string | Buffer): number
}
