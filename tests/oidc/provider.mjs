// A real OpenID provider on loopback for the single sign-on tests (tests/it/sso.rs): the
// certified `oidc-provider` package with its development sign-in and consent pages (any
// login, any password; the login is the account's e-mail). Nothing is granted without the
// consent page: every new browser session is asked, and the Chromium test clicks through it.
//
// Environment: PORT (to listen on 127.0.0.1), REDIRECT_URI (Errata's callback). Prints
// "listening" once it accepts connections.
//
// Accounts: every login is an account whose e-mail is the login; `groups` come from GROUPS
// below. An account whose login starts with "late" gets ID tokens valid 5 seconds (the
// expired-token test moves Errata's clock past that).
import Provider from "oidc-provider";

const port = Number(process.env.PORT);
const redirect = process.env.REDIRECT_URI;
if (!port || !redirect) throw new Error("PORT and REDIRECT_URI are needed");

const GROUPS = {
  "alice@corp.example": ["errata-admins", "payments"],
  "carol@corp.example": ["payments"],
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: "errata",
      client_secret: "errata-test-secret",
      redirect_uris: [redirect],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "groups"],
  },
  // Claims asked for by scope go into the ID token too (Errata reads only the ID token).
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      email: id,
      email_verified: true,
      name: id.split("@")[0],
      groups: GROUPS[id] || [],
    }),
  }),
  ttl: {
    IdToken: (ctx, token) => ((token?.available?.sub || "").startsWith("late") ? 5 : 3600),
  },
  cookies: { keys: ["errata-test-cookie-key"] },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;

const server = provider.listen(port, "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
