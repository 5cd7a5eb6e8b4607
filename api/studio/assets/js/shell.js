// What every page shares: the account in the header, and the sign-in gate that stands in
// front of the page until someone is signed in (and again if the sign-in expires).

import { currentAuth, signOut } from "./api.js";
import { $, h } from "./dom.js";
import { askToSignIn } from "./signin.js";

function showAccount(user) {
  const account = $("#account");
  account.replaceChildren(
    h("span", { class: "who" }, user.fullName || user.email),
    h(
      "button",
      {
        type: "button",
        class: "quiet",
        onclick: async () => {
          await signOut();
          location.assign("/");
        },
      },
      "Sign out",
    ),
  );
  account.hidden = false;
}

/** Resolve with the signed-in user, asking them to sign in first if needed. */
export async function signedIn() {
  const view = $("#signin-view");
  let asking = false;
  window.addEventListener("monumento:signed-out", (event) => {
    if (asking) return;
    asking = true;
    $("#account").hidden = true;
    // Whatever the page was doing needs a fresh token: start it again once signed in.
    askToSignIn(view, event.detail.message).then(() => location.reload());
  });
  const auth = currentAuth();
  const user = auth ? auth.user : await askToSignIn(view);
  showAccount(user);
  return user;
}
