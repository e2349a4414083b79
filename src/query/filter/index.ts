// nfdump filter language → parameterised DuckDB SQL. See docs/filters.md.
export type { CmpOp, FilterNode, NumTarget } from "./ast.js";
export { FilterError, renderFilterError } from "./errors.js";
export { tokenize, type Token } from "./lexer.js";
export { parseFilter } from "./parser.js";
export {
  blob16Ip,
  compileFilter,
  duckdbParams,
  ipToBigInt,
  uhugeintIp,
  filterToSql,
  type CompiledFilter,
  type FilterParam,
  type IpColumnSql,
  type SqlOptions,
} from "./sql.js";
