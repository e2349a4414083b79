// The HTTP API component.
export { HttpApi, type HttpApiOptions } from "./server.js";
export { renderMetrics, escapeLabel, type ExtraMetrics } from "./metrics.js";
export { ensureToken, checkBearer, tokenPath, type ApiToken } from "./token.js";
