// The sign-in and sign-up form, shared by every page: it resolves once the user is in.

import { ApiError, signIn, signUp } from "./api.js";
import { h, say, showView } from "./dom.js";

/** Render the form into `view` and resolve with the user once signed in (or signed up). */
export function askToSignIn(view, message = "") {
  return new Promise((resolve) => {
    let creating = false;
    const title = h("h1", { id: "signin-title" }, "Sign in");
    const alert = h("p", { class: "notice", role: "alert", hidden: true });
    const nameField = h(
      "div",
      { class: "field", hidden: true },
      h("label", { for: "signin-name" }, "Your name ", h("span", { class: "optional" }, "(optional)")),
      h("input", { id: "signin-name", name: "fullName", autocomplete: "name", maxlength: "200" }),
    );
    const email = h("input", {
      id: "signin-email",
      name: "email",
      type: "email",
      required: true,
      autocomplete: "email",
    });
    const password = h("input", {
      id: "signin-password",
      name: "password",
      type: "password",
      required: true,
      minlength: "8",
      autocomplete: "current-password",
      "aria-describedby": "signin-password-hint",
    });
    const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
    const switcher = h("button", { type: "button", class: "link" }, "Create an account");
    const switchText = h("span", {}, "New here? ");
    const form = h(
      "form",
      { class: "card stack", "aria-labelledby": "signin-title" },
      nameField,
      h("div", { class: "field" }, h("label", { for: "signin-email" }, "Email"), email),
      h(
        "div",
        { class: "field" },
        h("label", { for: "signin-password" }, "Password"),
        password,
        h("p", { class: "hint", id: "signin-password-hint" }, "At least 8 characters."),
      ),
      submit,
    );

    function setMode(create) {
      creating = create;
      title.textContent = create ? "Create your account" : "Sign in";
      submit.textContent = create ? "Create account" : "Sign in";
      nameField.hidden = !create;
      password.autocomplete = create ? "new-password" : "current-password";
      switchText.textContent = create ? "Already have an account? " : "New here? ";
      switcher.textContent = create ? "Sign in instead" : "Create an account";
      say(alert, "");
    }

    switcher.addEventListener("click", () => {
      setMode(!creating);
      (creating ? nameField.querySelector("input") : email).focus();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      say(alert, "");
      try {
        const user = creating
          ? await signUp(email.value.trim(), password.value, nameField.querySelector("input").value.trim())
          : await signIn(email.value.trim(), password.value);
        resolve(user);
      } catch (error) {
        say(alert, error instanceof ApiError ? error.message : String(error), "error");
        (error?.body?.field === "password" ? password : email).focus();
      } finally {
        submit.disabled = false;
      }
    });

    view.replaceChildren(
      title,
      h(
        "p",
        { class: "lede" },
        "Sign in to record an interview with an AI host, or to steer one as its director.",
      ),
      alert,
      form,
      h("p", {}, switchText, switcher),
    );
    showView(view);
    if (message) say(alert, message, "error");
    email.focus();
  });
}
