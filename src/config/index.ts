// The configuration component: schema (defaults + validation) and loading.
export * from "./address.js";
export * from "./schema.js";
export * from "./load.js";
