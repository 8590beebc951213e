import numpy as np
import scipy.sparse as sp

from nbrec.sparse_keys import in_sorted, sorted_keys


def test_pairs_are_found_exactly_where_the_matrix_has_entries():
    matrix = sp.csr_matrix(np.array([[0, 1, 0, 2], [3, 0, 0, 0], [0, 0, 0, 4]]))
    keys = sorted_keys(matrix)
    rows, cols = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    found = in_sorted(rows * 4 + cols, keys)
    assert (found == (matrix.toarray() != 0)).all()
    assert list(keys) == sorted(keys)


def test_an_empty_matrix_holds_no_pair():
    keys = sorted_keys(sp.csr_matrix((3, 5)))
    assert not in_sorted(np.array([0, 7, 14]), keys).any()
