"""The notebooks' own modules, on the package's top floor but the CLI's (docs/design.md).

`tutorial`: the shared setup and the phases trained once and cached; `live`: training drawn
as it runs; `widgets`: the sliders and buttons; `playground`: the alpha/beta/gamma
playground; `diagrams`: the architecture figure. Only the notebooks import them.
"""
