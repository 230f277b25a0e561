#ifndef MEDIC_EDIT_LAZY_H
#define MEDIC_EDIT_LAZY_H
#include <stdio.h>
#include <editline/readline.h>

/* libedit is loaded when the interactive REPL starts (host/edit_lazy.c), not at every start: readline,
 * add_history, stifle_history, read_history, write_history and rl_completion_matches are forwarders to it,
 * and libedit's variables are set through the two functions below (the program must not name them: that
 * would link libedit again). Without libedit the forwarders return NULL / -1 and do nothing else. */

/* Loads libedit and sets rl_readline_name, rl_basic_word_break_characters, rl_attempted_completion_function
 * and no appended character after a completion. NULL, or "libedit.so.2 could not be loaded: <dlerror>". */
const char *medic_edit_open(const char *name, const char *word_breaks, rl_completion_func_t *complete);

/* rl_attempted_completion_over = 1: no fallback to file names after a completion function. */
void medic_edit_completion_over(void);

#endif
