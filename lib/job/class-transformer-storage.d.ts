/**
 * class-transformer keeps the metadata of its decorators (`@Type`) in one storage object that
 * its public entry does not export; the payload codec (payload-codec.ts) reads `@Type` from it.
 */
declare module 'class-transformer/cjs/storage' {
  import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';
  export const defaultMetadataStorage: MetadataStorage;
}
