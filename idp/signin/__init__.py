"""Signing in: the sign-in methods domains contribute, the plan of the sign-in page, and `finish_sign_in`.

A newcomer adding a way to sign in writes one `SignInMethod` (methods.py) in their domain's `domain()` factory,
a template for it, and routes that end in `finish_sign_in` (finish.py). Nothing else needs to change.
"""
