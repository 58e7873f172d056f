# The shared error code table.
sitr_add_test(err LABELS unit LIBS sitrpdq)
