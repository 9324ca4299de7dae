/* placeholder: being written */
int confetti_authn_placeholder;
