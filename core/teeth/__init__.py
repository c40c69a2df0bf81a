"""FDI teeth as instances: targets, training recipe, instance separation and numbering along the arch."""
