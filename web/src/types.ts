// Issue 5 content types: the server's own (src/content/types.ts, DOM-free),
// so the UI and the API can never drift apart.
export * from "../../src/content/types.js";
// Issue 6 detection and alerts types (attacks, anomaly scores, alert rules).
export * from "../../src/detect/types.js";
