// server.mjs — a real OpenID Connect provider (the oidc-provider package) on loopback, for
// confetti-auth's tests and for `make run`:
//   node server.mjs PORT REDIRECT_URI [--auto]
// One confidential client ("confetti", secret "confetti-dev-secret", PKCE S256 required) and one
// user, alice@example.test (e-mail verified). --auto completes login and consent for alice
// without a browser (tests); without it the provider's own login pages are shown (any name logs
// in; "alice" gets the profile below). Prints "ready <issuer>" when listening.
import Provider from 'oidc-provider';

const [port, redirect, mode] = process.argv.slice(2);
if (!port || !redirect) {
  console.error('usage: node server.mjs PORT REDIRECT_URI [--auto]');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const auto = mode === '--auto';

const accounts = {
  alice: { sub: 'alice', email: 'alice@example.test', email_verified: true, name: 'Alice Test',
           picture: 'https://example.test/alice.png' },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'confetti',
    client_secret: 'confetti-dev-secret',
    redirect_uris: redirect.split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true, methods: ['S256'] },
  // profile claims in the id_token itself (as Google does), not only at the userinfo endpoint
  conformIdTokenClaims: false,
  cookies: { keys: ['confetti-test-cookie-key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
  async findAccount(ctx, id) {
    const a = accounts[id] || { sub: id, email: `${id}@example.test`, email_verified: false, name: id };
    return { accountId: id, async claims() { return a; } };
  },
  features: { devInteractions: { enabled: !auto } },
  ...(auto ? { interactions: { url: (ctx, interaction) => `/auto/${interaction.uid}` } } : {}),
});
provider.proxy = false;

if (auto) {
  // Login and consent for alice, no pages: the standard interactionDetails/Finished pattern.
  provider.use(async (ctx, next) => {
    const m = ctx.path.match(/^\/auto\/([^/]+)$/);
    if (!m) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: 'alice' } },
                                         { mergeWithLastSubmission: false });
      return;
    }
    const grant = new provider.Grant({ accountId: details.session.accountId,
                                       clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } },
                                       { mergeWithLastSubmission: true });
  });
}

provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
