// oauth2_standin.mjs — a loopback stand-in for a plain OAuth 2.0 provider without id_tokens,
// speaking Yandex ID's or VK ID's documented protocol over TLS (issue 18 item 1 tests):
//   node oauth2_standin.mjs PORT CERT.pem KEY.pem FORMAT
// FORMAT yandex: GET /authorize, POST /token (client_secret_post), GET /info?format=json with
//   "Authorization: OAuth <token>" answering https://yandex.ru/dev/id/doc/en/user-information's
//   shape (id, login, default_email, real_name, display_name, default_avatar_id, …).
// FORMAT vk: GET /authorize (the callback adds device_id, type, expires_in), POST /oauth2/auth
//   (PKCE only, device_id and state required), POST /oauth2/user_info (client_id, access_token
//   form) answering {"user":{"user_id","first_name","last_name","email","avatar",…}}.
// One client: "standin-client" (secret "standin-secret" for yandex). Every code is single use
// and bound to its PKCE S256 challenge and redirect_uri; access tokens are random. Prints
// "ready" when listening. No npm packages: node's own https and crypto.
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';

const [port, certFile, keyFile, format] = process.argv.slice(2);
if (!port || !certFile || !keyFile || !['yandex', 'vk'].includes(format)) {
  console.error('usage: node oauth2_standin.mjs PORT CERT KEY yandex|vk');
  process.exit(2);
}
const CLIENT = 'standin-client', SECRET = 'standin-secret', DEVICE = 'standin-device-1';
const codes = new Map();   // code -> {challenge, redirect, state}
const tokens = new Set();  // access tokens issued

const b64url = (buf) => buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
  .replace(/=+$/, '');
const json = (res, status, body) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};
const readForm = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => resolve(new URLSearchParams(data)));
});

const yandexUser = {
  id: '1130000012345678', login: 'ivan.petrov', client_id: CLIENT, display_name: 'Ivan',
  real_name: 'Иван Петров', first_name: 'Иван', last_name: 'Петров', sex: 'male',
  default_email: 'ivan.petrov@yandex.ru', emails: ['ivan.petrov@yandex.ru'],
  default_avatar_id: '131652443', is_avatar_empty: false, psuid: '1.AAceCw.tbHgw5DtJ9_zeqPrk-Ba2w',
};
const vkUser = {
  user: { user_id: '1234567890', first_name: 'Ivan', last_name: 'Ivanov', phone: '79991234567',
          avatar: 'https://pp.userapi.com/standin.jpg', email: 'ivan@vk.example', sex: 2,
          verified: false, birthday: '01.01.2000' },
};

const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
  async (req, res) => {
    const url = new URL(req.url, `https://127.0.0.1:${port}`);
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== CLIENT || q.get('response_type') !== 'code' ||
          q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') ||
          !q.get('state') || !q.get('redirect_uri')) {
        return json(res, 400, { error: 'invalid_request' });
      }
      const code = b64url(crypto.randomBytes(24));
      codes.set(code, { challenge: q.get('code_challenge'), redirect: q.get('redirect_uri'),
                        state: q.get('state') });
      const back = new URL(q.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state'));
      if (format === 'vk') {
        back.searchParams.set('device_id', DEVICE);
        back.searchParams.set('type', 'code_v2');
        back.searchParams.set('expires_in', '600');
      }
      res.writeHead(302, { Location: back.toString() });
      return res.end();
    }
    const tokenPath = format === 'vk' ? '/oauth2/auth' : '/token';
    if (req.method === 'POST' && url.pathname === tokenPath) {
      const f = await readForm(req);
      const c = codes.get(f.get('code'));
      codes.delete(f.get('code'));  // single use, whatever follows
      const verifier = f.get('code_verifier') || '';
      const ok = c && f.get('grant_type') === 'authorization_code' &&
        f.get('client_id') === CLIENT && f.get('redirect_uri') === c.redirect &&
        b64url(crypto.createHash('sha256').update(verifier).digest()) === c.challenge &&
        (format === 'vk'
          ? f.get('device_id') === DEVICE && f.get('state') === c.state
          : f.get('client_secret') === SECRET);
      if (!ok) return json(res, 400, { error: 'invalid_grant' });
      const at = b64url(crypto.randomBytes(32));
      tokens.add(at);
      return json(res, 200, { access_token: at, token_type: 'bearer', expires_in: 3600,
                              refresh_token: b64url(crypto.randomBytes(32)),
                              ...(format === 'vk' ? { user_id: 1234567890, state: c.state } : {}) });
    }
    if (format === 'yandex' && req.method === 'GET' && url.pathname === '/info') {
      const h = req.headers.authorization || '';
      if (!h.startsWith('OAuth ') || !tokens.has(h.slice(6)) ||
          url.searchParams.get('format') !== 'json') {
        return json(res, 401, { error: 'invalid_token' });
      }
      return json(res, 200, yandexUser);
    }
    if (format === 'vk' && req.method === 'POST' && url.pathname === '/oauth2/user_info') {
      const f = await readForm(req);
      if (f.get('client_id') !== CLIENT || !tokens.has(f.get('access_token'))) {
        return json(res, 401, { error: 'invalid_token' });
      }
      return json(res, 200, vkUser);
    }
    return json(res, 404, { error: 'not_found' });
  });
server.listen(Number(port), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
