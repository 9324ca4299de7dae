/* placeholder: being written */
int confetti_cfg_placeholder;
