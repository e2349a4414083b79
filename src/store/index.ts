export { StoreWriter, type StoreWriterOptions } from "./writer.js";
export { defaultStoreConfig, validateStoreConfig, type StoreConfig, type RetentionConfig } from "./config.js";
export { migrate, schemaVersion } from "./migrate.js";
export * from "./schema.js";
