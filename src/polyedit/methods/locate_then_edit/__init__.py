"""The mathematics the locate-then-edit family shares (ROME, MEMIT, AlphaEdit, LangEdit, EMMET; WISE's prompts):
keys k* and values v* of a fact (`rank_one`), the key second moment C (`second_moment`), MEMIT's multi-layer
pipeline (`mass_edit`) and AlphaEdit's null-space projection (`null_space`). Not a method: registers nothing."""
