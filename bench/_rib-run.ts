import { runRibPart } from "./enrich-rib.js";
await runRibPart({}, process.argv.slice(2));
