// nfdump filter language → parameterised DuckDB SQL (or another engine's, through a FilterDialect). See docs/filters.md.
export type { CmpOp, FilterNode, NumTarget } from "./ast.js";
export { FilterError, renderFilterError } from "./errors.js";
export { tokenize, type Token } from "./lexer.js";
export { parseFilter } from "./parser.js";
export {
  blob16Ip,
  compileFilter,
  duckdbFilter,
  duckdbParams,
  ipToBigInt,
  uhugeintIp,
  filterToSql,
  type CompiledFilter,
  type FilterDialect,
  type FilterParam,
  type IpColumnSql,
  type SqlOptions,
} from "./sql.js";
