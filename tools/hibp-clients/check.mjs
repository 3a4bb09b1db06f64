// Asks third-party Pwned Passwords clients about passwords, against the
// range API at the base URL given as the first argument, and prints what
// each client answered as one JSON line per question. The Go test
// (cmd/safereset/range_clients_test.go) decides what is right.
//
// stdin: {"passwords": ["...", ...]}
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

const require = createRequire(import.meta.url);
const { pwnedPassword, pwnedPasswordRange } = await import('hibp');
// The CommonJS build: its SHA-1 helper uses require('crypto') on Node.
const { haveIBeenPwned, matcherPwnedFactory } = require('@zxcvbn-ts/matcher-pwned');
const { zxcvbnAsync, zxcvbnOptions } = require('@zxcvbn-ts/core');

const baseUrl = process.argv[2];
const { passwords } = JSON.parse(readFileSync(0, 'utf8'));

// zxcvbn-ts always asks for padding; without it, the header is dropped.
const fetchWith = (padding) => (url, opts = {}) => {
  const headers = { ...(opts.headers || {}) };
  if (!padding) delete headers['Add-Padding'];
  return fetch(url, { ...opts, headers });
};

let padNow = false; // the padding of the zxcvbn-ts matcher's next fetch
zxcvbnOptions.addMatcher('pwned', matcherPwnedFactory((url, opts) => fetchWith(padNow)(url, opts), zxcvbnOptions, { url: `${baseUrl}/range/` }));

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

for (const padding of [false, true]) {
  for (const pw of passwords) {
    const hash = createHash('sha1').update(pw, 'utf8').digest('hex').toUpperCase();
    const [prefix, suffix] = [hash.slice(0, 5), hash.slice(5)];

    out({ client: 'hibp.pwnedPassword', padding, password: pw,
      count: await pwnedPassword(pw, { baseUrl, addPadding: padding }) });

    const range = await pwnedPasswordRange(prefix.toLowerCase(), { baseUrl, addPadding: padding });
    const zeros = Object.values(range).filter((c) => c === 0).length;
    out({ client: 'hibp.pwnedPasswordRange', padding, password: pw,
      count: range[suffix] || 0, lines: Object.keys(range).length, zeros });

    const entry = await haveIBeenPwned(pw, {
      universalFetch: fetchWith(padding), url: `${baseUrl}/range/`,
      networkErrorHandler: (e) => { throw new Error(`zxcvbn-ts network error: ${e && (e.status || e.message)}`); },
    });
    out({ client: 'zxcvbn-ts.haveIBeenPwned', padding, password: pw,
      count: entry ? Number.parseInt(entry.split(':')[1], 10) : 0 });

    padNow = padding;
    const result = await zxcvbnAsync(pw);
    const m = result.sequence.find((s) => s.pattern === 'pwned');
    out({ client: 'zxcvbn-ts.matcher-pwned', padding, password: pw, count: m ? m.pwnedAmount : 0 });
  }
}
