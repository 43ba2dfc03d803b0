"""``discreet kiosk --web``: a touch-friendly local page over a kiosk Engine.

The reference for an app that embeds discreet in its own UI: every screen is
one or two Engine calls (see :mod:`discreet.kiosk_web.app`), the profile lives
in memory only, and a visit ends on "forget me", after an idle period, or
when the next visitor starts.
"""
