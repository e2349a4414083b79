// Issue 5 content types: the server's own (src/content/types.ts, DOM-free),
// so the UI and the API can never drift apart.
export * from "../../src/content/types.js";
