"""What each ``rollsense`` subcommand does, one module per kind of work. ``firmware.app.cli``
imports a module only when its subcommand runs (its ``SUBCOMMANDS`` table), so the device
daemon never loads the dashboard's web stack and ``rollsense replay`` never loads paho."""
