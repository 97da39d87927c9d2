// An OpenID provider for tests: npm oidc-provider with one confidential client. The
// interaction step (login and consent) completes by itself for the account named in
// login_hint, whose e-mail claim is that address (verified unless it starts with
// "unverified").
//
// ID tokens are signed RS256 with a key generated at start (kid "tally-test-key"),
// whose public half the JWKS endpoint publishes.
//
// Tamper mode, to prove the relying party refuses bad ID tokens:
//   POST /control/tamper  {"mode": "MODE"}                  -> 204
//   POST /control/tamper  {"mode": "MODE", "sticky": true}  -> 204
// sets MODE for the next token-endpoint (/token) response carrying an id_token only
// (then back to "none"), or with "sticky" for every following one until set again.
// An unknown mode or a malformed body answers 400. The id_token field of the JSON
// body is rewritten; everything else in the response is left as it was. Modes:
//   none           untouched (the default)
//   bad_signature  one character of the signature segment changed
//   wrong_key      payload unchanged, signed with an RSA key not in the JWKS, same kid
//   wrong_aud      aud = "someone-else", re-signed with the real key
//   expired        exp = now-3600, iat = now-7200, re-signed with the real key
//   wrong_iss      iss = "http://evil.example", re-signed with the real key
//   wrong_nonce    nonce replaced, re-signed with the real key
//   alg_none       header {"alg":"none"}, payload unchanged, empty signature
//   resigned       payload unchanged, re-signed with the real key by this file's code
//                  (a control: the re-signing path itself yields acceptable tokens)
//
// node op.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const TOKEN_PATH = '/token';
const KID = 'tally-test-key';

const rsa = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const signingKey = rsa();
const strangerKey = rsa(); // never published
const signingJwk = { ...signingKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'email', 'profile'],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: sub, email_verified: !sub.startsWith('unverified'), name: `Test ${sub.split('@')[0]}` }),
  }),
  cookies: { keys: ['tally-test-cookie-key'] },
  pkce: { required: () => true },
  jwks: { keys: [signingJwk] },
  routes: { token: TOKEN_PATH },
});

const callback = provider.callback();

// --- tampering -------------------------------------------------------------------

const b64json = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const unb64json = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));

function signRs256(header, payload, key) {
  const input = `${b64json(header)}.${b64json(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

const TAMPER = {
  none: (jwt) => jwt,
  bad_signature: (jwt) => {
    const [h, p, s] = jwt.split('.');
    // A character well inside the segment: every bit of it is signature data.
    const i = Math.floor(s.length / 2);
    return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
  },
  wrong_key: (jwt, header, payload) => signRs256(header, payload, strangerKey),
  wrong_aud: (jwt, header, payload) => signRs256(header, { ...payload, aud: 'someone-else' }, signingKey),
  expired: (jwt, header, payload) => signRs256(header, { ...payload, exp: now() - 3600, iat: now() - 7200 }, signingKey),
  wrong_iss: (jwt, header, payload) => signRs256(header, { ...payload, iss: 'http://evil.example' }, signingKey),
  wrong_nonce: (jwt, header, payload) => signRs256(header, { ...payload, nonce: `tampered-${crypto.randomUUID()}` }, signingKey),
  alg_none: (jwt, header, payload) => `${b64json({ alg: 'none' })}.${b64json(payload)}.`,
  resigned: (jwt, header, payload) => signRs256(header, payload, signingKey),
};

let tamper = { mode: 'none', sticky: false };

function tamperIdToken(jwt) {
  const { mode } = tamper;
  if (!tamper.sticky) tamper = { mode: 'none', sticky: false };
  const [h, p] = jwt.split('.');
  return TAMPER[mode](jwt, unb64json(h), unb64json(p));
}

// Holds back what oidc-provider writes to the token response, rewrites the id_token
// in the JSON body and sends it with a matching Content-Length.
function interceptTokenResponse(res) {
  const chunks = [];
  const { writeHead, write, end } = res;
  let head = null;
  const collect = (chunk, encoding) => {
    if (chunk != null && typeof chunk !== 'function') {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8'));
    }
  };
  res.writeHead = (statusCode, ...rest) => {
    head = { statusCode, headers: rest.find((arg) => arg && typeof arg === 'object') };
    return res;
  };
  res.write = (chunk, encoding, cb) => {
    collect(chunk, encoding);
    const done = [encoding, cb].find((arg) => typeof arg === 'function');
    if (done) process.nextTick(done);
    return true;
  };
  res.end = (chunk, encoding, cb) => {
    collect(chunk, encoding);
    const done = [chunk, encoding, cb].find((arg) => typeof arg === 'function');
    // Node's own end() calls writeHead() for the implicit head: give the originals back.
    Object.assign(res, { writeHead, write, end });
    if (head) {
      res.statusCode = head.statusCode;
      if (head.headers) for (const [name, value] of Object.entries(head.headers)) res.setHeader(name, value);
    }
    let body = Buffer.concat(chunks);
    try {
      const type = String(res.getHeader('content-type') || '');
      if (res.statusCode === 200 && type.includes('json') && !res.getHeader('content-encoding')) {
        const json = JSON.parse(body.toString('utf8'));
        if (typeof json.id_token === 'string') {
          json.id_token = tamperIdToken(json.id_token);
          body = Buffer.from(JSON.stringify(json));
        }
      }
    } catch (error) {
      console.error('token response left as it was:', error);
    }
    res.setHeader('content-length', body.length);
    return res.end(body, done);
  };
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function control(req, res) {
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    body = null;
  }
  if (req.method !== 'POST' || !body || !Object.hasOwn(TAMPER, body.mode)) {
    res.statusCode = 400;
    res.setHeader('content-type', 'text/plain');
    res.end(`expected POST {"mode": one of ${Object.keys(TAMPER).join(', ')}, "sticky": bool}\n`);
    return;
  }
  tamper = { mode: body.mode, sticky: body.sticky === true };
  res.statusCode = 204;
  res.end();
}

// --- server ----------------------------------------------------------------------

const server = http.createServer(async (req, res) => {
  try {
    const path = new URL(req.url, issuer).pathname;
    if (path === '/control/tamper') {
      await control(req, res);
      return;
    }
    if (req.url.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(req, res);
      const accountId = details.params.login_hint || 'someone@example.com';
      const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
      grant.addOIDCScope('openid email profile');
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
      return;
    }
    if (path === TOKEN_PATH && req.method === 'POST') interceptTokenResponse(res);
    callback(req, res);
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});

server.listen(Number(port), '127.0.0.1', () => console.log('ready'));
