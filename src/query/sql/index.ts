export {
  SqlService,
  type SqlColumn,
  type SqlCursor,
  type SqlCursorOptions,
  type SqlPage,
  type SqlQueryOptions,
} from "./service.js";
export { defaultSqlConfig, validateSqlConfig, type SqlConfig } from "./config.js";
export * from "./errors.js";
export { VIEW_NAMES, IP_COLUMNS } from "./macros.js";
