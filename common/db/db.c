/* placeholder: being written */
int confetti_db_placeholder;
