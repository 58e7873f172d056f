# The exact PDQ index and the digest tables, compared with brute force.
sitr_add_test(index LABELS unit LIBS sitrsvc)
