// Independent check of a Blue Gateway delivery with Node.js's own crypto, as docs/signatures.md shows:
// HMAC-SHA256 over the RAW request bytes (never over a re-serialised parsed object).
// Usage: node verify.js <body-file> <headers-json-file> <secret>  -> prints "ok" or exits 1.
const crypto = require("crypto");
const fs = require("fs");

const [bodyFile, headersFile, secret] = process.argv.slice(2);
const raw = fs.readFileSync(bodyFile); // a Buffer: the exact bytes received
const headers = JSON.parse(fs.readFileSync(headersFile, "utf8"));
const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));

function safeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

const blue = crypto.createHmac("sha256", secret).update(raw).digest("hex");
if (!safeEqual(blue, lower["x-signature"] || "")) {
  console.error("X-Signature mismatch");
  process.exit(1);
}

const key = secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret, "utf8");
const signed = Buffer.concat([Buffer.from(`${lower["webhook-id"]}.${lower["webhook-timestamp"]}.`), raw]);
const expected = "v1," + crypto.createHmac("sha256", key).update(signed).digest("base64");
const given = (lower["webhook-signature"] || "").split(" ");
if (!given.some((sig) => safeEqual(sig, expected))) {
  console.error("webhook-signature mismatch");
  process.exit(1);
}
console.log("ok");
