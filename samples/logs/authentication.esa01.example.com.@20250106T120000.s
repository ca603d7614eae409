Mon Jan  6 08:00:00 2025 Info: Begin Logfile
Mon Jan  6 08:00:00 2025 Info: Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F
Mon Jan  6 08:00:00 2025 Info: Time offset from UTC: -21600 seconds
Mon Jan  6 08:12:40 2025 Info: The user admin successfully logged on from 192.0.2.10 with privilege admin using an HTTPS connection.
Mon Jan  6 08:30:02 2025 Info: An authentication attempt by the user admin from 203.0.113.50 failed using an HTTPS connection.
Mon Jan  6 08:45:19 2025 Info: User operator1 from 192.0.2.11 was authenticated successfully with privilege operators by password based authentication using an SSH connection.
Mon Jan  6 09:15:00 2025 Info: User operator1 logged out of SSH session 192.0.2.11
Mon Jan  6 11:59:59 2025 Info: Logfile rolled over
Mon Jan  6 11:59:59 2025 Info: End Logfile
