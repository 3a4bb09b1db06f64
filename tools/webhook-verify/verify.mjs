// Verifies webhook deliveries with the Standard Webhooks reference library.
// Input (stdin): JSON {"secret": "whsec_...", "deliveries": [{"name", "body", "headers"}]}.
// Output (stdout): JSON object name -> "ok" or "error: <message>".
import sw from "standardwebhooks";

const { Webhook } = sw;
let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const { secret, deliveries } = JSON.parse(input);
const wh = new Webhook(secret);
const out = {};
for (const d of deliveries) {
  try {
    wh.verify(d.body, d.headers);
    out[d.name] = "ok";
  } catch (e) {
    out[d.name] = "error: " + e.message;
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
