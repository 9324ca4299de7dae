/* placeholder: being written */
int confetti_pbjson_placeholder;
