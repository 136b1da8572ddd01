"""Pure math on embedding matrices: similarity, precision conversion, dimension reduction."""
