"""Every input limit in one place (documented in docs/LIMITS.md). Past a limit, cnncalc stops
with one line naming the limit and exit code 2, before it has spent the time or memory."""

MAX_SPEC_BYTES = 32 << 20        # a spec file or standard input (32 MiB)
MAX_LIST_ITEMS = 800_000         # block-style list items ("- ") and flow-list commas in a spec
MAX_LAYERS = 100_000             # leaf layers after blocks and repeats are expanded
MAX_ENTRIES = 400_000            # entries of layer lists built, kept or dropped by their `if:`
MAX_NESTING = 64                 # blocks within blocks
MAX_YAML_VALUES = 1_000_000      # values after YAML aliases are expanded (alias bombs)
MAX_NAME_LENGTH = 200            # characters in a layer or model name
MAX_INT_DIGITS = 100             # digits in an integer of a spec
MAX_SHAPE_INPUT = 1 << 20        # characters read from stdin for a quick calculator's '-' (1 MiB)
MAX_IMAGE_PIXELS = 89_478_485    # pixels of an --image (Pillow's own decompression-bomb threshold);
                                 # lower when the memory budget allows fewer
