// detect.anomaly configuration: defaults, layering and errors naming the key.
import assert from "node:assert/strict";
import test from "node:test";
import { ConfigError, defaultConfig, validateConfig } from "../src/config/schema.js";
import { defaultAnomalyConfig } from "../src/detect/anomaly-config.js";

test("detect.anomaly: defaults, overrides, errors naming the key", () => {
  const d = defaultConfig();
  assert.deepEqual(d.detect.anomaly, defaultAnomalyConfig());
  assert.equal(d.detect.anomaly.stepSeconds, 60);
  assert.equal(d.detect.anomaly.threshold, 1);
  const c = validateConfig({
    detect: { anomaly: { stepSeconds: 300, maxSeries: 50, series: ["total", "dst_as"] } },
  });
  assert.equal(c.detect.anomaly.stepSeconds, 300);
  assert.equal(c.detect.anomaly.maxSeries, 50);
  assert.deepEqual(c.detect.anomaly.series, ["total", "dst_as"]);
  // The rest of detect is untouched by an anomaly-only section, and vice versa.
  assert.deepEqual({ ...c.detect, anomaly: null }, { ...d.detect, anomaly: null });
  const e = validateConfig({ detect: { enabled: false } });
  assert.equal(e.detect.enabled, false);
  assert.deepEqual(e.detect.anomaly, defaultAnomalyConfig());
  // Layering: a second layer keeps the first one's anomaly values.
  const layered = validateConfig({ detect: { anomaly: { threshold: 2 } } }, c);
  assert.equal(layered.detect.anomaly.threshold, 2);
  assert.equal(layered.detect.anomaly.stepSeconds, 300);

  const bad = (raw: unknown, re: RegExp): void => {
    assert.throws(
      () => validateConfig(raw),
      (err: unknown) => err instanceof ConfigError && re.test(err.message),
    );
  };
  bad(
    { detect: { anomaly: { stepSeconds: 7 } } },
    /^config: detect\.anomaly\.stepSeconds: 7 — must be an integer in 10-900/,
  );
  bad(
    { detect: { anomaly: { stepSeconds: 70 } } },
    /^config: detect\.anomaly\.stepSeconds: 70 — .*divides 900/,
  );
  bad({ detect: { anomaly: { stepSecs: 60 } } }, /^config: detect\.anomaly\.stepSecs: unknown key/);
  bad(
    { detect: { anomaly: { series: ["total", "proto"] } } },
    /^config: detect\.anomaly\.series\[1\]: "proto"/,
  );
  bad({ detect: { anomaly: { threshold: 0 } } }, /^config: detect\.anomaly\.threshold: 0/);
  bad({ detect: { anomaly: { enabled: "yes" } } }, /^config: detect\.anomaly\.enabled/);
  bad({ detect: { anomaly: 5 } }, /^config: detect\.anomaly: 5 — must be a map/);
});
